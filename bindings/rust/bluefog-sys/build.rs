// SPDX-License-Identifier: Apache-2.0
// Finds libbluefog: BLUEFOG_LIB_DIR first, else `pkg-config --libs-only-L bluefog` (Meson's
// uninstalled .pc file has a wrong libdir variable, but its -L flag is right), else the linker's
// default search path. The directory is passed on to dependents as DEP_BLUEFOG_LIB_DIR so their
// build scripts can add an rpath: cargo applies link args only to the package that emits them.
use std::env;
use std::process::Command;

fn pkg_config_lib_dir() -> Option<String> {
    let output = Command::new("pkg-config").args(["--libs-only-L", "bluefog"]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    text.split_whitespace().find_map(|flag| flag.strip_prefix("-L")).map(str::to_owned)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BLUEFOG_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let lib_dir =
        env::var("BLUEFOG_LIB_DIR").ok().filter(|dir| !dir.is_empty()).or_else(pkg_config_lib_dir);
    if let Some(dir) = &lib_dir {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:lib_dir={dir}");
        // For this crate's own tests (tests/drift.rs opens the library it linked against).
        println!("cargo:rustc-env=BLUEFOG_SYS_LIB_DIR={dir}");
    } else {
        println!(
            "cargo:warning=libbluefog not located (set BLUEFOG_LIB_DIR or PKG_CONFIG_PATH); \
             relying on the default linker path"
        );
    }
    println!("cargo:rustc-link-lib=dylib=bluefog");
}
