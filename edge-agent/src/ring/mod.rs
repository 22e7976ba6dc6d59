//! The sample ring: bounded, lock-free, many writers, independent readers each with its own cursor.
