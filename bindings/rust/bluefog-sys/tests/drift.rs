// SPDX-License-Identifier: Apache-2.0
// Drift checks between include/bluefog.h, this crate's hand-written declarations and the built
// library: the header is parsed at test time (nothing is listed here), so a function, enumerator
// or struct field added to the header fails these tests until the crate declares it.
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::Command;

use bluefog_sys::*;

/// One function prototype with canonical types (e.g. "const DLTensor*").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prototype {
    ret: String,
    params: Vec<String>,
}

fn header_path() -> PathBuf {
    match std::env::var_os("BLUEFOG_HEADER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/bluefog.h"),
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Removes /* */ and // comments (neither header nor crate puts them inside string literals
/// that matter here).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The header without comments and preprocessor lines.
fn header_code() -> String {
    strip_comments(&read(&header_path()))
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits a parameter list at top-level commas.
fn split_params(list: &str) -> Vec<String> {
    let mut params = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' if !list[..i].ends_with('-') => depth -= 1,
            ',' if depth == 0 => {
                params.push(list[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = list[start..].trim();
    if !last.is_empty() {
        params.push(last.to_owned());
    }
    params
}

fn canonical_base(base: &str) -> String {
    match base {
        "c_int" | "i32" => "int",
        "c_uint" | "u32" => "unsigned int",
        "c_double" | "f64" => "double",
        "usize" => "size_t",
        "i64" => "int64_t",
        "u64" => "uint64_t",
        "c_char" => "char",
        "c_void" => "void",
        other => other,
    }
    .to_owned()
}

fn canonical(base_const: bool, base: &str, pointers: usize) -> String {
    let qualifier = if base_const && pointers > 0 { "const " } else { "" };
    format!("{qualifier}{}{}", canonical_base(base), "*".repeat(pointers))
}

/// "const bf_topology *topology" -> "const bf_topology*"; `named` says a name ends the text.
fn canonical_c_type(decl: &str, named: bool) -> String {
    let spaced = decl.replace('*', " * ");
    let mut tokens: Vec<&str> = spaced.split_whitespace().collect();
    if named && tokens.iter().filter(|t| **t != "*" && **t != "const").count() >= 2 {
        tokens.pop();
    }
    let first_star = tokens.iter().position(|t| *t == "*").unwrap_or(tokens.len());
    let base_const = tokens[..first_star].contains(&"const");
    let base: Vec<&str> = tokens[..first_star].iter().copied().filter(|t| *t != "const").collect();
    let pointers = tokens.iter().filter(|t| **t == "*").count();
    canonical(base_const, &base.join(" "), pointers)
}

/// "*mut *const c_char" -> "const char**". The qualifier next to the base decides constness.
fn canonical_rust_type(ty: &str) -> String {
    let (mut rest, mut pointers, mut base_const) = (ty.trim(), 0, false);
    loop {
        if let Some(after) = rest.strip_prefix("*const") {
            base_const = true;
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix("*mut") {
            base_const = false;
            rest = after.trim_start();
        } else {
            break;
        }
        pointers += 1;
    }
    canonical(base_const, rest, pointers)
}

/// Every `BF_API ret name(params);` of the header.
fn header_functions() -> BTreeMap<String, Prototype> {
    let code = header_code();
    let mut functions = BTreeMap::new();
    for piece in code.split("BF_API").skip(1) {
        let decl = &piece[..piece.find(';').expect("declaration without ';'")];
        let open = decl.find('(').expect("declaration without '('");
        let close = decl.rfind(')').expect("declaration without ')'");
        let head = decl[..open].trim();
        let name_start =
            head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        let name = head[name_start..].to_owned();
        let ret = canonical_c_type(&head[..name_start], false);
        let params: Vec<String> = split_params(&decl[open + 1..close])
            .iter()
            .filter(|p| p.as_str() != "void")
            .map(|p| canonical_c_type(p, true))
            .collect();
        assert!(name.starts_with("bf_"), "unexpected BF_API name {name:?}");
        assert!(
            functions.insert(name.clone(), Prototype { ret, params }).is_none(),
            "{name} twice"
        );
    }
    assert!(functions.len() > 40, "header parse found only {} functions", functions.len());
    functions
}

fn crate_source() -> String {
    strip_comments(&read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")))
}

/// Every `pub fn` inside the crate's `extern "C" { ... }` blocks.
fn crate_functions() -> BTreeMap<String, Prototype> {
    let source = crate_source();
    let mut functions = BTreeMap::new();
    for block in source.split("extern \"C\" {").skip(1) {
        let end = block.find("\n}").expect("unterminated extern block");
        for item in block[..end].split(';') {
            let Some(item) = item.trim().strip_prefix("pub fn") else { continue };
            let open = item.find('(').unwrap();
            let close = item.rfind(')').unwrap();
            let name = item[..open].trim().to_owned();
            let params = split_params(&item[open + 1..close])
                .iter()
                .map(|p| {
                    canonical_rust_type(&p[p.find(':').expect("parameter without type") + 1..])
                })
                .collect();
            let ret = item[close + 1..]
                .trim()
                .strip_prefix("->")
                .map_or_else(|| "void".to_owned(), canonical_rust_type);
            assert!(
                functions.insert(name.clone(), Prototype { ret, params }).is_none(),
                "{name} twice"
            );
        }
    }
    functions
}

#[test]
fn every_header_function_is_declared_with_its_signature() {
    let header = header_functions();
    let declared = crate_functions();
    let mut problems = Vec::new();
    for (name, proto) in &header {
        match declared.get(name) {
            None => problems.push(format!("{name}: in bluefog.h, not declared in bluefog-sys")),
            Some(ours) if ours.params.len() != proto.params.len() => problems.push(format!(
                "{name}: header takes {} arguments, crate declares {}",
                proto.params.len(),
                ours.params.len()
            )),
            Some(ours) if ours != proto => {
                problems.push(format!("{name}: header {proto:?}, crate {ours:?}"))
            }
            Some(_) => {}
        }
    }
    for name in declared.keys().filter(|name| !header.contains_key(*name)) {
        problems.push(format!("{name}: declared in bluefog-sys, not in bluefog.h"));
    }
    assert!(
        problems.is_empty(),
        "drift between bluefog.h and bluefog-sys:\n{}",
        problems.join("\n")
    );
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;

#[test]
fn every_declared_function_is_exported_by_the_library() {
    let path = match option_env!("BLUEFOG_SYS_LIB_DIR") {
        Some(dir) => format!("{dir}/libbluefog.so"),
        None => "libbluefog.so".to_owned(),
    };
    let c_path = CString::new(path.clone()).unwrap();
    // SAFETY: plain dlopen/dlsym calls with NUL-terminated strings; nothing is called through
    // the returned pointers.
    let library = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW) };
    assert!(!library.is_null(), "dlopen({path}): {:?}", unsafe { CStr::from_ptr(dlerror()) });
    let missing: Vec<String> = crate_functions()
        .into_keys()
        .filter(|name| {
            let symbol = CString::new(name.as_str()).unwrap();
            unsafe { dlsym(library, symbol.as_ptr()) }.is_null()
        })
        .collect();
    assert!(missing.is_empty(), "declared but not exported by {path}: {missing:?}");
}

/// `pub const NAME: TYPE = VALUE;` items of the crate, as NAME -> VALUE text.
fn crate_constants() -> BTreeMap<String, String> {
    crate_source()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|rest| {
            let (name, rest) = rest.split_once(':')?;
            let (_, value) = rest.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().trim_end_matches(';').trim().to_owned()))
        })
        .collect()
}

/// Enumerators (`NAME = value`) of every `typedef enum` in the header, plus BF_VERSION_* macros.
fn header_constants() -> BTreeMap<String, String> {
    let mut constants = BTreeMap::new();
    let code = header_code();
    for piece in code.split("typedef enum").skip(1) {
        let body = &piece[piece.find('{').unwrap() + 1..piece.find('}').unwrap()];
        for item in body.split(',') {
            let (name, value) = item.split_once('=').expect("enumerator without explicit value");
            constants.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
    for line in read(&header_path()).lines() {
        let mut words = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(value), None) =
            (words.next(), words.next(), words.next(), words.next())
        {
            if name.starts_with("BF_VERSION_") && value.parse::<i64>().is_ok() {
                constants.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    constants
}

#[test]
fn every_header_constant_is_declared_with_its_value() {
    let ours = crate_constants();
    let theirs = header_constants();
    assert!(theirs.len() > 15, "header parse found only {} constants", theirs.len());
    let problems: Vec<String> = theirs
        .iter()
        .filter(|(name, value)| ours.get(*name) != Some(*value))
        .map(|(name, value)| {
            format!("{name} = {value} in bluefog.h, {:?} in the crate", ours.get(name))
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(BF_VERSION, unsafe { bf_get_version() }, "crate and loaded library versions differ");
}

/// Field names of each `typedef struct NAME { ... } NAME;` in the header.
fn header_structs() -> BTreeMap<String, Vec<String>> {
    let mut structs = BTreeMap::new();
    let code = header_code();
    for piece in code.split("typedef struct").skip(1) {
        let (Some(open), Some(close)) = (piece.find('{'), piece.find('}')) else { continue };
        if piece[..open].contains(';') {
            continue; // an opaque `typedef struct x x;` before some later struct
        }
        let name = piece[..open].trim().to_owned();
        let fields = piece[open + 1..close]
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| f.rsplit([' ', '*']).next().unwrap().to_owned())
            .collect();
        structs.insert(name, fields);
    }
    structs
}

/// (struct, field or "" for the whole struct) -> (offset or size) in this crate.
macro_rules! rust_layout {
    ($($ty:ident { $($field:ident),* })*) => {{
        let mut layout = BTreeMap::new();
        $(
            layout.insert((stringify!($ty).to_owned(), String::new()), std::mem::size_of::<$ty>());
            $(layout.insert(
                (stringify!($ty).to_owned(), stringify!($field).to_owned()),
                std::mem::offset_of!($ty, $field),
            );)*
        )*
        layout
    }};
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let ours: BTreeMap<(String, String), usize> = rust_layout! {
        DLDevice { device_type, device_id }
        DLDataType { code, bits, lanes }
        DLTensor { data, device, ndim, dtype, shape, strides, byte_offset }
        DLManagedTensor { dl_tensor, manager_ctx, deleter }
        bf_init_options { struct_size, mpi_comm, nodes_per_machine, matching_mode, stall_warning_s,
            timeline_prefix, fusion_threshold_bytes, cycle_time_ms, compression, topk_ratio }
        bf_op_args { struct_size, name }
        bf_allreduce_args { struct_size, name, op, machine_local }
        bf_neighbor_args { struct_size, name, has_weights, self_weight, src_count, src_ranks,
            src_weights, dynamic, dst_count, dst_ranks, dst_weights, check_topology, compression,
            topk_ratio, error_feedback, consensus_step }
        bf_win_op_args { struct_size, has_self_weight, self_weight, has_ranks, count, ranks,
            weights, require_mutex }
        bf_win_update_args { struct_size, has_weights, self_weight, count, ranks, weights, reset,
            require_mutex }
    };
    // bf_* structs: fields as the header lists them; DLPack structs: the fields we declare.
    let mut fields: BTreeMap<String, Vec<String>> = header_structs();
    for (ty, field) in ours.keys() {
        if ty.starts_with("DL") && !field.is_empty() {
            fields.entry(ty.clone()).or_default().push(field.clone());
        }
    }
    let mut program = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"bluefog.h\"\nint main(void) {\n",
    );
    for (ty, names) in &fields {
        program += &format!("  printf(\"{ty} %zu\\n\", sizeof({ty}));\n");
        for field in names {
            program += &format!("  printf(\"{ty}.{field} %zu\\n\", offsetof({ty}, {field}));\n");
        }
    }
    program += "  return 0;\n}\n";

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("layout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("layout.c"), program).unwrap();
    let include = header_path().parent().unwrap().to_owned();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .arg("-std=c99")
        .arg("-I")
        .arg(&include)
        .arg(dir.join("layout.c"))
        .arg("-o")
        .arg(dir.join("layout"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(status.success(), "compiling the layout probe failed");
    let output = Command::new(dir.join("layout")).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap();
        let value: usize = value.parse().unwrap();
        let key = match key.split_once('.') {
            Some((ty, field)) => (ty.to_owned(), field.to_owned()),
            None => (key.to_owned(), String::new()),
        };
        match ours.get(&key) {
            None => problems.push(format!("{key:?}: in C, not in the crate")),
            Some(&ours) if ours != value => {
                problems.push(format!("{key:?}: C {value}, Rust {ours}"))
            }
            Some(_) => {}
        }
        seen.insert(key);
    }
    for key in ours.keys().filter(|key| !seen.contains(*key)) {
        problems.push(format!("{key:?}: in the crate, not in the header"));
    }
    assert!(problems.is_empty(), "layout drift:\n{}", problems.join("\n"));
}
