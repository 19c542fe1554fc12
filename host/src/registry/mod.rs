//! OCI registry and image-layout access (placeholder; being written).
