//! Tests of the `probe` area.
