//! Language detection from a path.

/// Language name for a path, from its file name or extension; `None` when unknown.
pub fn detect(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Makefile" | "makefile" | "GNUmakefile" => return Some("make"),
        "Dockerfile" => return Some("dockerfile"),
        "Kconfig" => return Some("kconfig"),
        "CMakeLists.txt" => return Some("cmake"),
        _ => {}
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    let lang = match ext.to_ascii_lowercase().as_str() {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "tsx",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "kt" | "kts" => "kotlin",
        "scala" => "scala",
        "swift" => "swift",
        "sh" | "bash" => "shell",
        "pl" | "pm" => "perl",
        "lua" => "lua",
        "s" | "asm" => "assembly",
        "md" | "markdown" => "markdown",
        "rst" => "rst",
        "json" => "json",
        "toml" => "toml",
        "yaml" | "yml" => "yaml",
        "xml" => "xml",
        "html" | "htm" => "html",
        "css" => "css",
        "sql" => "sql",
        "proto" => "protobuf",
        "dts" | "dtsi" => "devicetree",
        _ => return None,
    };
    Some(lang)
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn detects_by_extension_and_name() {
        assert_eq!(detect("src/main.rs"), Some("rust"));
        assert_eq!(detect("a/b/Makefile"), Some("make"));
        assert_eq!(detect("drivers/x.H"), Some("c"));
        assert_eq!(detect("README"), None);
        assert_eq!(detect("x.unknownext"), None);
    }
}
