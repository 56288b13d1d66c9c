//! Tests of the namecheap provider.
