{
  "targets": [
    {
      "target_name": "peft_blas",
      "sources": ["src/peft_blas.c", "src/fused.c"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math"],
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]]
    }
  ]
}
