//! Tags queries per language. Each pattern captures one definition as
//! `@def.KIND` (KIND one of lens's kinds) with its `@name`; `@scope` marks a
//! container that is not itself a definition (a Rust `impl`) named by
//! `@scope.name`; `@receiver` gives an explicit container (Go methods, C++
//! `Type::method`). Earlier patterns win when two capture the same name.

pub const RUST: &str = r#"
(impl_item type: (_) @scope.name) @scope
(impl_item body: (declaration_list (function_item name: (identifier) @name) @def.method))
(trait_item body: (declaration_list (function_item name: (identifier) @name) @def.method))
(trait_item body: (declaration_list (function_signature_item name: (identifier) @name) @def.method))
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(struct_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.union
(trait_item name: (type_identifier) @name) @def.trait
(type_item name: (type_identifier) @name) @def.type
(associated_type name: (type_identifier) @name) @def.type
(const_item name: (identifier) @name) @def.constant
(static_item name: (identifier) @name) @def.variable
(mod_item name: (identifier) @name) @def.module
(macro_definition name: (identifier) @name) @def.macro
(enum_variant name: (identifier) @name) @def.constant
(field_declaration name: (field_identifier) @name) @def.field
"#;

pub const PYTHON: &str = r#"
(class_definition body: (block (function_definition name: (identifier) @name) @def.method))
(class_definition body: (block (decorated_definition definition: (function_definition name: (identifier) @name) @def.method)))
(function_definition name: (identifier) @name) @def.function
(class_definition name: (identifier) @name) @def.class
(module (expression_statement (assignment left: (identifier) @name) @def.variable))
(class_definition body: (block (expression_statement (assignment left: (identifier) @name) @def.field)))
"#;

const JS_COMMON: &str = r#"
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(method_definition name: [(property_identifier) (private_property_identifier)] @name) @def.method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression) (generator_function)]) @def.function
(program (lexical_declaration kind: "const" (variable_declarator name: (identifier) @name) @def.constant))
(program (export_statement (lexical_declaration kind: "const" (variable_declarator name: (identifier) @name) @def.constant)))
(program (lexical_declaration kind: "let" (variable_declarator name: (identifier) @name) @def.variable))
(program (variable_declaration (variable_declarator name: (identifier) @name) @def.variable))
(program (export_statement (lexical_declaration kind: "let" (variable_declarator name: (identifier) @name) @def.variable)))
(program (export_statement (variable_declaration (variable_declarator name: (identifier) @name) @def.variable)))
(expression_statement (assignment_expression left: (member_expression object: (member_expression object: (identifier) @receiver property: (property_identifier) @prototype) property: (property_identifier) @name) right: [(function_expression) (arrow_function) (generator_function)]) @def.method (#eq? @prototype "prototype"))
(expression_statement (assignment_expression left: (member_expression object: (identifier) @receiver property: (property_identifier) @name) right: [(function_expression) (arrow_function) (generator_function)]) @def.function)
(pair key: (property_identifier) @name value: [(function_expression) (arrow_function) (generator_function)]) @def.method
(pair key: (string (string_fragment) @name) value: [(function_expression) (arrow_function) (generator_function)]) @def.method
(method_definition name: (computed_property_name) @name) @def.method
(expression_statement (assignment_expression left: (member_expression object: (identifier) @receiver property: (property_identifier) @name) right: (class)) @def.class)
"#;

pub fn javascript() -> String {
    format!(
        "{JS_COMMON}{}",
        r#"
(class_declaration name: (identifier) @name) @def.class
(class name: (identifier) @name) @def.class
(field_definition property: [(property_identifier) (private_property_identifier)] @name) @def.field
"#
    )
}

pub fn typescript() -> String {
    format!(
        "{JS_COMMON}{}",
        r#"
(class_declaration name: (type_identifier) @name) @def.class
(abstract_class_declaration name: (type_identifier) @name) @def.class
(interface_declaration name: (type_identifier) @name) @def.interface
(type_alias_declaration name: (type_identifier) @name) @def.type
(enum_declaration name: (identifier) @name) @def.enum
(function_signature name: (identifier) @name) @def.function
(method_signature name: [(property_identifier) (private_property_identifier)] @name) @def.method
(abstract_method_signature name: [(property_identifier) (private_property_identifier)] @name) @def.method
(public_field_definition name: [(property_identifier) (private_property_identifier)] @name) @def.field
(property_signature name: (property_identifier) @name) @def.field
(internal_module name: (identifier) @name) @def.module
(module name: (identifier) @name) @def.module
(enum_body (property_identifier) @name @def.constant)
(enum_assignment name: (property_identifier) @name) @def.constant
"#
    )
}

pub const GO: &str = r#"
(method_declaration receiver: (parameter_list (parameter_declaration type: [(type_identifier) @receiver (pointer_type (type_identifier) @receiver) (generic_type type: (type_identifier) @receiver) (pointer_type (generic_type type: (type_identifier) @receiver))])) name: (field_identifier) @name) @def.method
(function_declaration name: (identifier) @name) @def.function
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec name: (type_identifier) @name) @def.type
(type_alias name: (type_identifier) @name) @def.type
(method_elem name: (field_identifier) @name) @def.method
(field_declaration name: (field_identifier) @name) @def.field
(const_spec name: (identifier) @name) @def.constant
(source_file (var_declaration (var_spec name: (identifier) @name) @def.variable))
(source_file (var_declaration (var_spec_list (var_spec name: (identifier) @name) @def.variable)))
(source_file (package_clause (package_identifier) @package))
"#;

pub const JAVA: &str = r#"
(class_declaration name: (identifier) @name) @def.class
(record_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(annotation_type_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @def.field
(enum_constant name: (identifier) @name) @def.constant
(program (package_declaration [(scoped_identifier) (identifier)] @package))
"#;

/// Declarator shapes shared by C and C++ (function names through pointers).
const C_COMMON: &str = r#"
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @def.function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @def.function
(function_definition declarator: (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))) @def.function
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.union
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.type
(type_definition declarator: (pointer_declarator declarator: (type_identifier) @name)) @def.type
(type_definition declarator: (array_declarator declarator: (type_identifier) @name)) @def.type
(type_definition declarator: (function_declarator declarator: (parenthesized_declarator (pointer_declarator declarator: (type_identifier) @name)))) @def.type
(type_definition declarator: (function_declarator declarator: (type_identifier) @name)) @def.type
(type_definition declarator: (function_declarator declarator: (parenthesized_declarator (type_identifier) @name))) @def.type
(preproc_def name: (identifier) @name) @def.macro
(preproc_function_def name: (identifier) @name) @def.macro
(enumerator name: (identifier) @name) @def.constant
(field_declaration declarator: (field_identifier) @name) @def.field
(field_declaration declarator: (pointer_declarator declarator: (field_identifier) @name)) @def.field
(field_declaration declarator: (array_declarator declarator: (field_identifier) @name)) @def.field
(field_declaration declarator: (function_declarator declarator: (parenthesized_declarator (pointer_declarator declarator: (field_identifier) @name)))) @def.field
(translation_unit (declaration declarator: (init_declarator declarator: (identifier) @name)) @def.variable)
(translation_unit (declaration declarator: (identifier) @name) @def.variable)
(translation_unit (declaration declarator: (init_declarator declarator: (pointer_declarator declarator: (identifier) @name))) @def.variable)
(translation_unit (declaration declarator: (init_declarator declarator: (array_declarator declarator: (identifier) @name))) @def.variable)
(translation_unit (declaration declarator: (array_declarator declarator: (identifier) @name)) @def.variable)
"#;

pub fn c() -> String {
    C_COMMON.to_string()
}

pub fn cpp() -> String {
    format!(
        "{}{C_COMMON}{}",
        r#"
(function_definition declarator: (function_declarator declarator: (qualified_identifier scope: (_) @receiver name: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name))) @def.method
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier scope: (_) @receiver name: [(identifier) (field_identifier)] @name)))) @def.method
(function_definition declarator: (reference_declarator (function_declarator declarator: (qualified_identifier scope: (_) @receiver name: [(identifier) (field_identifier)] @name)))) @def.method
(field_declaration_list (function_definition declarator: (function_declarator declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name)) @def.method)
(field_declaration_list (template_declaration (function_definition declarator: (function_declarator declarator: [(field_identifier) (identifier)] @name)) @def.method))
"#,
        r#"
(class_specifier name: (type_identifier) @name body: (field_declaration_list)) @def.class
(namespace_definition name: (namespace_identifier) @name) @def.module
(alias_declaration name: (type_identifier) @name) @def.type
(function_definition declarator: (reference_declarator (function_declarator declarator: (identifier) @name))) @def.function
(namespace_definition body: (declaration_list (declaration declarator: (init_declarator declarator: (identifier) @name)) @def.variable))
"#
    )
}
