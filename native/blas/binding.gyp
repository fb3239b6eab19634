{
  "targets": [
    {
      "target_name": "peft_blas",
      "sources": ["src/peft_blas.c"],
      "cflags": ["-O2"],
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]]
    }
  ]
}
