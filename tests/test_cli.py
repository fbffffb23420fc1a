"""The ``fastnn`` command: train, predict, info, bench, and one-line errors for bad arguments."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris

    data = load_iris()
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*data.feature_names, "species"])
        for row, t in zip(data.data, data.target):
            w.writerow([*row, data.target_names[t]])
    return path


def test_train_on_digits_by_default(capsys, tmp_path):
    model, plot = tmp_path / "m.npz", tmp_path / "curves.png"
    status, out, _ = run(capsys, "train", "--epochs", "15", "--quiet", "--save", str(model),
                         "--plot", str(plot))
    assert status == 0
    assert "digits" in out and "test accuracy" in out
    test_acc = float(out.split("test accuracy")[1].split()[0])
    assert test_acc >= 0.95
    assert model.exists() and plot.stat().st_size > 1000


@pytest.mark.parametrize("data", ["iris", "breast_cancer", "wine"])
def test_train_on_each_bundled_dataset(capsys, data):
    status, out, _ = run(capsys, "train", "--data", data, "--epochs", "40", "--quiet",
                         "--optimizer", "adam", "--lr", "0.01", "--hidden", "32,16")
    assert status == 0
    assert float(out.split("test accuracy")[1].split()[0]) >= 0.85


def test_train_and_predict_a_csv_file(capsys, tmp_path, iris_csv):
    model = tmp_path / "iris.npz"
    status, out, _ = run(capsys, "train", "--data", str(iris_csv), "--target", "species",
                         "--epochs", "60", "--quiet", "--save", str(model), "--seed", "1")
    assert status == 0
    status, out, _ = run(capsys, "predict", str(model), str(iris_csv))
    assert status == 0
    lines = out.split()
    assert lines[0] == "prediction" and len(lines) == 151
    truth = [row[-1] for row in csv.reader(open(iris_csv))][1:]
    assert np.mean(np.array(lines[1:]) == np.array(truth)) > 0.9
    out_file = tmp_path / "pred.csv"
    assert run(capsys, "predict", str(model), str(iris_csv), "--out", str(out_file))[0] == 0
    assert out_file.read_text().split() == lines


def test_regression_from_csv(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ [1.5, -2.0, 0.5] + 0.1 * rng.standard_normal(200)
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    status, out, _ = run(capsys, "train", "--data", str(path), "--epochs", "80", "--quiet",
                         "--lr", "0.01")
    assert status == 0 and float(out.split("test R2")[1].split()[0]) > 0.95


def test_info(capsys):
    status, out, _ = run(capsys, "info")
    assert status == 0 and "backends" in out


def test_bench_quick_group(capsys, tmp_path):
    path = tmp_path / "bench.json"
    status, out, _ = run(capsys, "bench", "--quick", "--group", "sgd_update", "--json",
                         str(path))
    assert status == 0 and "GEMM ceiling" in out and "sgd_update" in out
    assert path.exists()


@pytest.mark.parametrize("argv,message", [
    (["train", "--data", "nope"], "--data must be"),
    (["train", "--hidden", "0,3"], "layer sizes"),
    (["train", "--epochs", "-1"], "positive"),
    (["train", "--lr", "abc"], "number"),
    (["train", "--backend", "cuda"], "unknown backend"),
    (["train", "--activation", "swish"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["predict", "missing.npz", "missing.csv"], "No such file"),
])
def test_wrong_arguments_give_one_line_and_a_nonzero_status(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status != 0
    assert err.startswith("fastnn: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_errors(capsys, tmp_path, iris_csv):
    other = tmp_path / "other.csv"
    other.write_text("x,y\n1,2\n")
    model = tmp_path / "iris.npz"
    run(capsys, "train", "--data", str(iris_csv), "--epochs", "1", "--quiet", "--save", str(model))
    status, _, err = run(capsys, "predict", str(model), str(other))
    assert status != 0 and "lacks the feature columns" in err
    status, _, err = run(capsys, "predict", str(other), str(iris_csv))
    assert status != 0 and "not a fastnn model file" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1\n")
    status, _, err = run(capsys, "train", "--data", str(bad))
    assert status != 0 and "line 2" in err


def test_the_module_runs_as_a_command(tmp_path):
    import os

    import fastnn

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastnn.__file__)))
    result = subprocess.run([sys.executable, "-m", "fastnn", "train", "--data", "nope"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fastnn: error: --data must be one of digits, iris, breast_cancer, wine or a .csv "
        "file, got 'nope'"]
