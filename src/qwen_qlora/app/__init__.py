"""What people run: the `qwen-qlora` command, poems on demand (write, compare, the demo page), merge and export."""
