"""Workflows: what `slukit train` runs, each composing the shared steps around `fit`.

| module | what it holds |
|---|---|
| `workflows/train.py` | `train_recipe`: picks the workflow from the recipe |
| `workflows/monolingual.py` | one recipe, one data set |
| `workflows/transfer.py` | source model, weights carried over, fine-tuning |
| `workflows/joint.py` | one model on both languages' data (`transfer.mode: joint`) |
| `workflows/curve.py` | learning curves over data fractions, seeds and modes |
| `workflows/steps.py` | the steps they share (data, preprocessor, scoring, saving, checkpoints) |

The workflows are peers: transfer trains its source model with the monolingual
workflow, and none calls `train_recipe`. `slukit.distill` is a workflow too.
"""
