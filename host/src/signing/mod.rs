//! Signing keys (placeholder; being written).
