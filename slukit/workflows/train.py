"""`train_recipe`: the one entry point of `slukit train`, which picks the workflow.

A recipe with a `distill` section is distilled (`slukit.distill`), one with a
`source` section is transferred (`slukit.workflows.transfer`), any other is a
monolingual run (`slukit.workflows.monolingual`). The workflows are peers: each
composes the shared steps (`slukit.workflows.steps`) and none calls this.

Example:
    >>> from slukit.recipe import load_recipe
    >>> recipe = load_recipe("recipes/quickstart.yaml")   # doctest: +SKIP
    >>> result = train_recipe(recipe)                      # doctest: +SKIP
    >>> result.metrics["valid"]["intent_accuracy"]         # doctest: +SKIP
    0.97
"""

from slukit.workflows.monolingual import train_monolingual


def train_recipe(recipe, output=None, reporter=None, resume=False, force=False):
    """Trains the recipe's model and writes its model directory.

    A recipe with a `source` section is a transfer recipe and goes to
    `slukit.workflows.transfer.train_transfer`; one with a `distill` section goes to
    `slukit.distill.distill_recipe` (teachers, then the student); any other to
    `slukit.workflows.monolingual.train_monolingual`, whose arguments these are (`recipe`
    validated and resolved, as `slukit.recipe.load_recipe` returns it).
    """
    if recipe.get("distill") or recipe.get("source"):
        from slukit.train.distribute import get_distribution
        from slukit.train.progress import Reporter

        reporter = reporter or Reporter()
        # First: a multi-worker strategy must exist before TensorFlow runs anything.
        get_distribution(recipe["train"])
        if recipe.get("distill"):
            from slukit.distill import distill_recipe

            return distill_recipe(recipe, output=output, reporter=reporter, resume=resume,
                                  force=force)
        from slukit.workflows.transfer import train_transfer

        return train_transfer(recipe, output=output, reporter=reporter, resume=resume,
                              force=force)
    return train_monolingual(recipe, output=output, reporter=reporter, resume=resume, force=force)
