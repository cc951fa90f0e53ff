package config

// FileName is the name of the plaintext desired state at the root of a repository.
const FileName = "rekey.yaml"
