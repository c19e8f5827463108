//! Builds the standard and test policies from source into components for the host's tests
