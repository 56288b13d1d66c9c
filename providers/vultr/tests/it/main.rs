//! Integration tests of the vultr provider against its Vultr API fake (to come).
