"""The refinement chain: teacher, distillation rounds, refinement cycles with a check, the score.

  python -m experiments.refine --dataset=horse            # make horse-refine: the best recipe
  python -m experiments.refine --dataset=horse --seed=1 --dry_run   # print the commands only
  python -m experiments.refine --prepared=prepared/mine   # make folder-refine: any prepared set

ind_prior_tf/refine/plan.py explains the stages; every flag left out keeps RefineConfig's default (the
best recipe on the horses). --prepared without --dataset derives every path from the set: its pools
<prepared>_bg.npz (and _bg_sharp.npz if there is one), the raw images from its meta.json, the chain
<runs>/<set's name>-refine. Each stage is its own run directory under --chain, so running the same
command again resumes the stage that was cut and skips the finished ones; a finished chain names its
result run in <chain>/result.txt.
"""
import shlex
import sys

from absl import flags

from ind_prior_tf import cli
from ind_prior_tf.refine import config as refine_config
from ind_prior_tf.refine import inputs as refine_inputs
from ind_prior_tf.refine import plan as refine
from ind_prior_tf.refine import run as refine_run

F = cli.Flags(__doc__)
D = refine_config.RefineConfig()  # the defaults; a flag given on the command line overrides its field

F.enum("dataset", "horse", refine_config.DATASETS, "Where the paths default to: the sets of make "
       "<dataset>-prep in --prep_dir, <runs>/<dataset>-refine. Not given with --prepared: the "
       "paths follow from that set instead.")
F.string("prep_dir", "prepared", "Folder of the prepared sets of --dataset.")
F.string("runs", "runs", "Folder of the runs.")
for _name, _help in [("prepared", "Prepared set (alone: every other path follows from it)."),
                     ("backgrounds", "The teacher's and GAN runs' pool."),
                     ("student_backgrounds", "The students' pool."),
                     ("raw_root", "The raw set (a folder set: its photos' folder), for GrabCut "
                                  "and the CRF on the photos; none: the one the set's meta.json "
                                  "names."),
                     ("chain", "The chain's folder."),
                     ("teacher_preset", "experiments.fgseg preset."),
                     ("student_preset", "experiments.distill preset."),
                     ("score_split", "Crops scored at the end.")]:
  F.string(_name, None, _help + " Default: from --dataset or --prepared.")
for _name, _help in [("image_size", "Crop size of the students and the GAN runs."),
                     ("teacher_size", "The teacher's crop size (0: --image_size)."),
                     ("teacher_steps", "Teacher's steps."),
                     ("rounds", "Distillation rounds."), ("student_steps", "Each student's steps."),
                     ("cycles", "Refinement cycles."),
                     ("hard_from", "First cycle whose student gets --hard_args (0: the rounds')."),
                     ("grabcut", "GrabCut iterations on students' labels and the score (0: none)."),
                     ("pick_every", "Save each GAN run every so many steps and teach the student "
                                    "from the most flip-consistent checkpoint (0: the last)."),
                     ("retries", "Reruns of a GAN run that fails the check, with the next seed."),
                     ("seed", "The teacher's and students' seed; the GAN runs' are 1000 x seed + 1, "
                              "+ 2, ... (a retry takes the next)."),
                     ("ensemble", "Ours: the result is the mean of the last so many students "
                                  "(experiments.ensemble; 1: the last student alone).")]:
  F.integer(_name, getattr(D, _name), _help)
flags.DEFINE_list("refine_steps", list(map(str, D.refine_steps)),
                  "GAN steps of each cycle (the last for the cycles after the list).",
                  flag_values=F.values)
F.float("crf_weight", D.crf_weight, "Ours: the score's masks first go through a dense CRF over "
        "the crop's colours of this weight (ind_prior_tf/postprocess/colour_crf.py; 0: none).")
F.float("crf_context", D.crf_context, "Ours: the score's CRF runs on the photo around the box, this "
        "fraction of the box's size on each side, the outside as background (0: the crop alone).")
F.integer("guided_radius", D.guided_radius, "Ours: the score's masks are first smoothed by a "
          "guided filter of this radius, the crop as guide (0: none).")
F.float("grabcut_sure", D.grabcut_sure, "Ours: in the score GrabCut keeps the pixels where the "
        "mask is within this of 0 or 1 (0: it may move any).")
F.boolean("grabcut_floor", D.grabcut_floor, "Ours: the score's floor: per crop, GrabCut from the "
          "box alone replaces the mask unless the mask fits the crop's colours better "
          "(experiments.evaluate --grabcut_floor).")
F.float("floor_margin", D.floor_margin, "Ours: with --grabcut_floor, by how much better "
        "(experiments.evaluate --floor_margin).")
F.float("floor_agreement", D.floor_agreement, "Ours: with --grabcut_floor, the least IoU of the "
        "mask with the cut for the mask to stay (experiments.evaluate --floor_agreement).")
F.boolean("grey_network", D.grey_network, "Ours: on a grey photo the score keeps the network's "
          "mask (experiments.evaluate --grey_network).")
F.float("floor_trust", D.floor_trust, "Ours: with --grabcut_floor, the least median fit gap for "
        "the set to count as known to the network (experiments.evaluate --floor_trust).")
F.float("student_ema_decay", D.student_ema_decay, "Ours: each student delivers a moving average "
        "of its weights with this decay (experiments.distill --ema_decay; 0: its last weights).")
F.string("max_drop", str(D.max_drop), "Largest fall in flip consistency a GAN run may show ('none': "
         "no check).")
F.boolean("flip_average_labels", D.flip_average_labels, "Flip-averaged teacher labels.")
F.boolean("flip_average_score", D.flip_average_score, "Flip-averaged masks in the score.")
F.integer("shift_average_score", D.shift_average_score, "Ours: the score's masks are the mean over "
          "the crop and the crop moved by this many pixels each way (experiments.evaluate "
          "--shift_average; 0: the crop alone).")
for _name, _help in [("hard_args", "Flags of the students from --hard_from on."),
                     ("fgseg_args", "Extra flags of every experiments.fgseg run."),
                     ("distill_args", "Extra flags of every student."),
                     ("gan_args", "Extra flags of the cycles' GAN runs."),
                     ("eval_args", "Extra flags of the score.")]:
  F.string(_name, shlex.join(getattr(D, _name)), _help)
F.boolean("score", True, "Score the result (default: when the prepared set has masks).")
F.boolean("dry_run", False, "Check the inputs, print the commands (as if every check passed) "
          "and exit.")


def config_from_flags(F):
  """The RefineConfig of the parsed flags: --dataset's, with each flag given on the command line."""
  given = {n: F[n].value for n in F.values if F.given(n) and hasattr(D, n)}
  if "refine_steps" in given:
    try:
      given["refine_steps"] = tuple(int(s) for s in given["refine_steps"])
    except ValueError:
      raise refine_config.ConfigError(f"--refine_steps={F['refine_steps'].serialize()[15:]}: expected "
                               "whole numbers separated by commas") from None
  if "max_drop" in given:
    try:
      given["max_drop"] = None if given["max_drop"].lower() in ("", "none") else float(
          given["max_drop"])
    except ValueError:
      raise refine_config.ConfigError(f"--max_drop={given['max_drop']}: expected a number, or none for "
                               "no check") from None
  for name in ("hard_args", "fgseg_args", "distill_args", "gan_args", "eval_args"):
    if name in given:
      try:
        given[name] = tuple(shlex.split(given[name]))
      except ValueError as e:
        raise refine_config.ConfigError(f"--{name}={given[name]}: {e}") from None
  if F.given("prepared") and not F.given("dataset"):
    if F.given("prep_dir"):
      raise refine_config.ConfigError("--prep_dir: only with --dataset (--prepared names the set itself)")
    return refine_config.for_prepared(given.pop("prepared"), F.runs, **given).validate()
  config = refine_config.for_dataset(F.dataset, F.prep_dir, F.runs, **given).validate()
  refine_config.prepared_meta(config.prepared)  # a dry run too: not a plan for a set that is not there
  return config


def _main(F):
  config = config_from_flags(F)
  refine_inputs.check(config)  # a plan is printed only for inputs that are there
  if F.dry_run:
    for stage in refine.plan(config):
      if stage.recipe is not None:
        print(f"# writes {stage.run_dir}/postprocess.json: {stage.recipe.describe()}")
      print(shlex.join(stage.command()))
    return 0
  try:
    result = refine_run.run(config)
  except refine_run.StageError as e:  # the stage printed its own error; its status is the chain's
    cli.error(e)
    return e.returncode
  scores = result["scores"]
  score = f": fg IoU {scores['fg_iou']:.3f}, mIoU {scores['miou']:.3f}" if scores else ""
  print(f"the chain's result: {result['result']}{score}")
  return 0


def main(argv=None):
  return cli.run(_main, F, argv)


if __name__ == "__main__":
  sys.exit(main())
