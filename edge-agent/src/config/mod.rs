//! The agent's one TOML file: parsing, `${ENV}` substitution, secrets from files, and validation whose
//! every error names file:line:col and says what to do.
