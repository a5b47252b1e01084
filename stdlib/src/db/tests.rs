//! Unit tests of the db module.
