from qwen_qlora.training.launch import accelerate_command, is_main, launched


def test_two_cpu_processes_use_multi_gpu_flag_not_cpu():
    # `--cpu --num_processes 2` silently starts one process; --multi_gpu starts two ranks
    cmd = accelerate_command(2, ["stages/train.py", "a", "b"])
    assert cmd[:3] == ["accelerate", "launch", "--multi_gpu"]
    assert "--cpu" not in cmd
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[-3:] == ["stages/train.py", "a", "b"]


def test_a_config_file_replaces_the_flags():
    cmd = accelerate_command(4, ["s.py"], "configs/fsdp.yaml")
    assert cmd == ["accelerate", "launch", "--config_file", "configs/fsdp.yaml",
                   "--num_processes", "4", "s.py"]


def test_rank_detection(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert not launched() and is_main()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert launched() and not is_main()
