/* SPDX-License-Identifier: MIT */
/* Test data only, shared by the unit tests that need an apt signing key:
 * an Ed25519 public key made with gpg --quick-gen-key for these tests,
 * whose secret half was thrown away, and its fingerprint. FPR_B is the
 * fingerprint of another key, for refusals. */
#pragma once

#define KEY_A                                                                  \
	"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"                               \
	"\n"                                                                   \
	"mDMEawYnvRYJKwYBBAHaRw8BAQdAHKqvFUI9tkbFkjCuICqYMtXBu5JTKGPBXBoN\n"   \
	"X3fHwAq0Qmdlb3N0YWdlIHRlc3QgYXB0IGtleSBBICh0ZXN0IGRhdGEgb25seSkg\n"   \
	"PHRlc3QtYUBnZW9zdGFnZS5pbnZhbGlkPoiQBBMWCAA4FiEEGfvKmDtqoiFGnHEM\n"   \
	"UXjEcfjNGC4FAmsGJ70CGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQUXjE\n"   \
	"cfjNGC7vjAEAutKwDgknT2y3FE3YAFF0WPEAiAZSyTN+Zwzk2w+s5B8BAI1jgUbS\n"   \
	"xM9aLWBNiGDWCJj0uHnwFbJ+XFqtGJ2p9noN\n"                               \
	"=Ag3C\n"                                                              \
	"-----END PGP PUBLIC KEY BLOCK-----\n"
#define FPR_A "19FBCA983B6AA221469C710C5178C471F8CD182E"
#define FPR_B "1A595B30FB5B17B5BF231D883B75F4ECC87E3440"
