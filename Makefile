# The README's commands. `make demo` runs the pipeline, `make test` the tests,
# `make lock` refreshes the pinned versions in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first, pinned: on the project's CPU machines this wheel is on local
# disk; a looser spec would download a multi-GB CUDA build. Override for a GPU machine,
# e.g. `make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"`.
TORCH_VERSION ?= 2.13.0
TORCH_SPEC ?= torch==$(TORCH_VERSION)
# Every package the project installs, pinned to the versions CI tested (`make lock`).
LOCK := constraints.txt
EXTRAS := dev,model,s3
BIN := $(VENV)/bin

.PHONY: install demo test test-slow lock schema clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LOCK) tools/dvc
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[$(EXTRAS)]"
	install -m 755 tools/dvc $(BIN)/dvc   # stage commands run in this venv, activated or not
	touch $@

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow"

test-slow: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m slow

# Re-resolve constraints.txt: the newest release of every dependency that pyproject.toml
# allows (torch stays at TORCH_VERSION; the local-version label such as +cpu is dropped so
# a CUDA build satisfies the same pin). Then `make test` and commit the file.
lock: install
	echo "torch==$(TORCH_VERSION)" | CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile \
	    --quiet --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
	    --annotation-style line $(addprefix --extra ,$(subst $(comma), ,$(EXTRAS))) \
	    -o $(LOCK) pyproject.toml -
	sed -i -E 's/^(torch==[^+ ]+)\+[a-z0-9.]+/\1/' $(LOCK)

# params.schema.json: params.yaml's rules for editors, from the models in config.py.
schema: install
	$(BIN)/python -m qwen_qlora.config params.schema.json

clean-venv:
	rm -rf $(VENV)

comma := ,
