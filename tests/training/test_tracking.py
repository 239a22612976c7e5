"""MLflow receives the run's parameters and metrics when MLFLOW_TRACKING_URI is set (a local
file store here), and is silently absent when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.jobs import TRAINING, oscillator

cli, write_config = TRAINING.cli, TRAINING.write_config


def test_mlflow_gets_params_metrics_and_the_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 prefers a database
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "oscillator-test")
    assert cli("run", write_config(tmp_path, oscillator(steps=100, lbfgs_steps=0))) == 0
    assert f"MLflow ({store.as_uri()})" in capsys.readouterr().err
    client = mlflow.tracking.MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("oscillator-test")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["problem"] == "damped_oscillator"
    history = client.get_metric_history(run.info.run_id, "loss_equation")
    assert [m.step for m in history] == [50, 100]
    assert "relative_l2_error" in run.data.metrics
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artifacts == ["training.png"]


def test_without_a_tracking_uri_there_is_no_mlflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("run", write_config(tmp_path, oscillator(steps=50, lbfgs_steps=0))) == 0
    err = capsys.readouterr().err
    assert "MLflow" not in err
    assert not (tmp_path / "mlruns").exists()
