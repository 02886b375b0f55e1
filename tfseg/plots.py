"""Figures written into run directories (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_history(history_csv: str | Path, out_path: str | Path) -> Path:
    """Plots loss and each metric per epoch, train vs validation, one panel each.

    Args:
        history_csv: str or Path. Keras CSVLogger output (epoch, loss, val_loss, ...).
        out_path: str or Path. PNG file to write.
    """
    history = pd.read_csv(history_csv)
    names = [c for c in history.columns if c not in ("epoch", "learning_rate") and not c.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    epochs = history["epoch"] + 1
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, history[name], marker="o", markersize=3, label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", markersize=3, label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return Path(out_path)
