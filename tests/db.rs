//! Tests of the `db` area.
