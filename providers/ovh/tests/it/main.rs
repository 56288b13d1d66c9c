//! Integration tests of the ovh provider (the fake and the suite follow).
