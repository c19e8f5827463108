//! Builds policy projects (Rust and other languages) into WebAssembly components
