// SPDX-License-Identifier: Apache-2.0
// Adds an rpath to libbluefog for this crate's tests and examples: bluefog-sys finds the library
// and passes its directory here as DEP_BLUEFOG_LIB_DIR (its own link args do not reach us).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_BLUEFOG_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_BLUEFOG_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
