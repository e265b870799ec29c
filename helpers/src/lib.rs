//! Shared bits of the test helper programs.
