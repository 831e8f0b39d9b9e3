"""Method/task node keys that are not plugin settings (no torch here: records and config read them)."""

# The keys a method/task YAML node may carry besides its plugin's hyperparameters: the ONE definition, from which
# every "is this key a setting?" answer in the harness is derived.
NAME_KEYS = (
    "name",
    "plugin",
)  # what the node is: its name, and the registry key of its plugin (lora_pe -> compose)
DEFAULT_KEYS = ("lr",)  # a method's default for a trainer setting (used when trainer.lr is unset)
LABEL_KEYS = (
    "paper_label",
)  # the method's name in the paper's tables: changes no result, so it is not hashed
HARNESS_KEYS = NAME_KEYS + DEFAULT_KEYS + LABEL_KEYS  # read by the harness, never passed to the plugin
NAMING_KEYS = NAME_KEYS + LABEL_KEYS  # name the node rather than set it: never offered as "valid keys"
# The keys a task YAML node may carry that the harness reads, not the task plugin: how the regression head starts
# (``head_bias_init``) and the held-out part of the training data that picks the best epoch (``selection``);
# checked by ``harness.config.task_keys``.
TASK_HARNESS_KEYS = ("head_bias_init", "selection")
