//! Integration tests of the godaddy provider (its fake and the conformance suite follow).
