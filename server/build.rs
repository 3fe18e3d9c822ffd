//! Lets the `wayline` binary find the prebuilt libduckdb at run time without LD_LIBRARY_PATH:
//! when DuckDB is linked from DUCKDB_LIB_DIR (not compiled in with `bundled`), the directory
//! is recorded as the binary's rpath.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    if let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
