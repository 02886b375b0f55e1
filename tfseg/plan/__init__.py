"""Plans a training run from the data, as nnU-Net's "dataset fingerprint → plan", for 2D
images, Keras and a time budget on the machine at hand.

`plan(fingerprint, budget_seconds, machine)` runs named rules (`tfseg.plan.rules.RULES`) over a
dataset's fingerprint (`tfseg.data.fingerprint`) and returns a `Plan`: an ordinary config
with a one-line reason for each setting; its epochs come from timing real training steps
(`time_training_steps`). `tfseg plan DATA --budget 30m` prints and writes one; docs/planning.md
explains each rule and its evidence.
"""

from tfseg.plan.machine import Machine, StepTiming, this_machine
from tfseg.plan.planner import Choice, Plan, follow_plan, plan, plan_data
from tfseg.plan.rules import RULES, Budget
from tfseg.plan.timing import time_training_steps

__all__ = ["Budget", "Choice", "Machine", "Plan", "RULES", "StepTiming", "follow_plan", "plan", "plan_data", "this_machine",
           "time_training_steps"]
