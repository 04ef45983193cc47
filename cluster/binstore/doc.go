// Package binstore keeps topology binaries on a node, content-addressed by
// sha256, and checks them before the node accepts them.
//
// # Storage
//
// A [Store] is a directory of files named by the hex sha256 of their
// content. [Store.Put] streams a binary into a temporary file while hashing
// it and renames it into place, so a reader never sees a partial binary;
// [Store.Path] re-hashes a stored file before handing out its path, so a
// binary corrupted on disk is never run. [Store.Fetch] downloads a binary
// from a peer node's API (GET /v1/binaries/{sha256}) and keeps it only if its
// hash matches.
//
// # Checks
//
// [CheckExecutable] refuses files that are not executables for this
// platform (ELF for linux, Mach-O for darwin, matching runtime.GOARCH).
// [ReadSpec] runs a binary with the argument `spec` in a scratch directory,
// with a timeout, and parses and validates the topology spec it prints: a
// program that does not print a valid spec is not a gale topology.
// [VerifySignature] checks an ed25519 signature of the sha256.
package binstore
