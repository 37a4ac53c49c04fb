//! Prints the tree-sitter syntax tree of a file: `cargo run -p indexer --example sexp FILE LANG`.
fn main() {
    let mut a = std::env::args().skip(1);
    let (file, lang) = (a.next().expect("FILE"), a.next().expect("LANG"));
    let src = std::fs::read(&file).expect("readable file");
    print!(
        "{}",
        indexer::symbols::sexp(&lang, &src).unwrap_or_default()
    );
}
