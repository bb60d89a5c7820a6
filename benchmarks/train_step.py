"""Training-step throughput on this CPU: kerasseg's settings side by side, interleaved, optionally with PyTorch.

    python -m benchmarks.train_step [--configs enet64 enet360 dlv3] [--rounds 4] [--peer] [--op-counts]

For each configuration (ENet batch 16 at 64x64, ENet batch 4 at 360x480, DeepLabv3+-MobileNetV2 batch 8 at
256x256; 12 classes, class-weighted cross-entropy, Adam + poly decay + weight decay 2e-4, synthetic in-memory
batches) it builds every variant in one process and times them in interleaved rounds (A, B, C, A, B, C, ...), so
a background load slows all of them alike:

- `kerasseg 9a0446e`: the library before this benchmark (Keras' BatchNormalization / PReLU / Adam), as it ran:
  in a process of its own with TensorFlow's own CPU kernel choice (oneDNN only on AVX-512 VNNI / AMX CPUs);
- `default`: what `kerasseg train` runs now (fused BN, fused Adam, thread pools from
  `kerasseg.training.performance.configure()`), with the mIoU metric in the step as `kerasseg train` has it;
- `default, no metric`: the metric's cost;
- `default + XLA`: `jit_compile=True`;
- `default, oneDNN off`: `default` in a process of its own started with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's
  Eigen kernels, its default on CPUs without AVX-512 VNNI / AMX; `import kerasseg` turns oneDNN on otherwise);
- `mixed_bfloat16`: only on CPUs with AMX (bf16 matrix units); skipped otherwise, and said so;
- with `--peer`: the same network in PyTorch eager (an ENet port written here, as the reference Torch code;
  segmentation_models_pytorch's DeepLabV3Plus(mobilenet_v2, encoder_weights=None)), same batches, same loss,
  torch.optim.Adam with weight_decay 2e-4. Needs the `bench` extra (`pip install -e ".[bench]"`).

Columns: steady-state median ms per step, images/s, CPU cores used (process CPU time / wall time over the timed
steps), time to the first step (build + compile + trace + first step), and the ratio of images/s to the first
row. `--op-counts` adds the number of ops in the traced Keras train step (of the variants in this process).
`--kernels N` then profiles N steps of each of those variants with TensorFlow's profiler and prints where the
kernel time goes (convolutions, batch norm, pooling, loss and metric, optimizer, element-wise), summed over the
threads: set against the step time it says how busy the cores are with kernels, not with the executor.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

KERAS_VARIANTS = ["kerasseg 9a0446e", "default", "default, no metric", "default + XLA"]
ONEDNN_OFF = "default, oneDNN off"  # TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's own choice on CPUs without AVX-512 VNNI
CONFIGS = {
    "enet64": dict(model="enet", batch=16, size=(64, 64), steps=5),
    "enet360": dict(model="enet", batch=4, size=(360, 480), steps=2),
    "dlv3": dict(model="deeplabv3plus", batch=8, size=(256, 256), steps=2),
}
NUM_CLASSES = 12
LEARNING_RATE, WEIGHT_DECAY = 5e-3, 2e-4


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def has_amx():
    """True when the CPU has AMX bf16 matrix units (where mixed_bfloat16 can pay off)."""
    try:
        with open("/proc/cpuinfo") as f:
            return "amx_bf16" in f.read()
    except OSError:
        return False


class KerasVariant:
    """One Keras training set-up; `step()` runs one training step on the benchmark batch."""

    def __init__(self, label, config, images, labels, class_weights, baseline=False, metric=True, xla=False,
                 policy=None):
        import keras

        import kerasseg
        from kerasseg.losses import SegmentationCrossEntropy
        from kerasseg.metrics import MeanIoU
        from kerasseg.training import make_optimizer

        self.label, self.images, self.labels = label, images, labels
        start = time.perf_counter()
        with _plain_keras_layers(baseline):
            if policy:
                keras.mixed_precision.set_global_policy(policy)
            try:
                self.model = kerasseg.build_model(config["model"], NUM_CLASSES, input_shape=(None, None, 3))
            finally:
                keras.mixed_precision.set_global_policy("float32")
        total_steps = 10_000
        if baseline:  # the optimizer of kerasseg 9a0446e
            optimizer = keras.optimizers.Adam(
                learning_rate=keras.optimizers.schedules.PolynomialDecay(LEARNING_RATE, total_steps, 0.0, 0.9),
                weight_decay=WEIGHT_DECAY)
            optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "alpha", "bias"])
        else:
            optimizer = make_optimizer(LEARNING_RATE, total_steps, WEIGHT_DECAY)
        self.model.compile(optimizer=optimizer,
                           loss=SegmentationCrossEntropy(NUM_CLASSES, class_weights=class_weights),
                           metrics=[MeanIoU(NUM_CLASSES)] if metric else None, jit_compile=xla)
        if not baseline:
            # As `kerasseg train` does: the optimizer's variables created eagerly, not inside the first traced
            # step (where each initializer becomes a cond and the step is traced twice: ~2x the first step here).
            self.model.optimizer.build(self.model.trainable_variables)
        self.step()
        self.first_step_s = time.perf_counter() - start

    def step(self):
        self.model.train_on_batch(self.images, self.labels)

    def op_count(self):
        import tensorflow as tf

        fn = tf.function(lambda x, y: self.model.train_step((x, y)))
        graph = fn.get_concrete_function(tf.TensorSpec(self.images.shape, tf.float32),
                                         tf.TensorSpec(self.labels.shape, tf.int32)).graph
        return len(graph.get_operations())


class _plain_keras_layers:
    """Builds models with Keras' own BatchNormalization / PReLU (the library before the fused layers)."""

    def __init__(self, active):
        self.active, self.saved = active, []

    def __enter__(self):
        if not self.active:
            return self
        import importlib

        import keras

        # Where the models get their layers: every conv -> BN -> activation block, and MobileNetV2's own BNs.
        blocks, mobilenetv2 = (importlib.import_module(f"kerasseg.{name}")
                               for name in ("layers.conv_bn_act", "backbones.mobilenetv2"))

        for module, name, value in ((blocks, "BatchNormalization", keras.layers.BatchNormalization),
                                    (blocks, "PReLU", keras.layers.PReLU),
                                    (mobilenetv2, "BatchNormalization", keras.layers.BatchNormalization)):
            self.saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)
        return self

    def __exit__(self, *exc):
        for module, name, value in self.saved:
            setattr(module, name, value)


def torch_enet(num_classes):
    """ENet in PyTorch, the layout of kerasseg.models.ENet (and of the authors' Torch code)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    def cba(cin, cout, kernel, stride=1, padding=0, dilation=1, relu=False, act=True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, bias=False),
                  nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)]
        if act:
            layers.append(nn.ReLU() if relu else nn.PReLU(cout, 0.25))
        return nn.Sequential(*layers)

    class Initial(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 13, 3, 2, 1, bias=False)
            self.bn, self.act = nn.BatchNorm2d(16, eps=1e-3, momentum=0.1), nn.PReLU(16, 0.25)

        def forward(self, x):
            return self.act(self.bn(torch.cat([self.conv(x), F.max_pool2d(x, 2)], 1)))

    class Regular(nn.Module):
        def __init__(self, channels, dilation=1, asymmetric=False, dropout=0.1, relu=False):
            super().__init__()
            internal = channels // 4
            if asymmetric:
                middle = [cba(internal, internal, (5, 1), padding=(2, 0), relu=relu),
                          cba(internal, internal, (1, 5), padding=(0, 2), relu=relu)]
            else:
                middle = [cba(internal, internal, 3, padding=dilation, dilation=dilation, relu=relu)]
            self.branch = nn.Sequential(cba(channels, internal, 1, relu=relu), *middle,
                                        cba(internal, channels, 1, relu=relu), nn.Dropout2d(dropout))
            self.act = nn.ReLU() if relu else nn.PReLU(channels, 0.25)

        def forward(self, x):
            return self.act(x + self.branch(x))

    class Down(nn.Module):
        def __init__(self, cin, cout, dropout):
            super().__init__()
            internal = cin // 4
            self.pad = cout - cin
            self.branch = nn.Sequential(cba(cin, internal, 2, stride=2), cba(internal, internal, 3, padding=1),
                                        cba(internal, cout, 1), nn.Dropout2d(dropout))
            self.act = nn.PReLU(cout, 0.25)

        def forward(self, x):
            main, indices = F.max_pool2d(x, 2, return_indices=True)
            main = F.pad(main, (0, 0, 0, 0, 0, self.pad))
            return self.act(main + self.branch(x)), indices

    class Up(nn.Module):
        def __init__(self, cin, cout, dropout):
            super().__init__()
            internal = cin // 4
            self.main = cba(cin, cout, 1, act=False)
            self.branch = nn.Sequential(
                cba(cin, internal, 1, relu=True), nn.ConvTranspose2d(internal, internal, 2, 2, bias=False),
                nn.BatchNorm2d(internal, eps=1e-3, momentum=0.1), nn.ReLU(), cba(internal, cout, 1, act=False),
                nn.Dropout2d(dropout))

        def forward(self, x, indices):
            main = F.max_unpool2d(self.main(x), indices, 2)
            return F.relu(main + self.branch(x))

    stage23 = [(1, False), (2, False), (1, True), (4, False), (1, False), (8, False), (1, True), (16, False)]

    class ENet(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)
            self.initial = Initial()
            self.down1 = Down(16, 64, 0.01)
            self.stage1 = nn.Sequential(*[Regular(64, dropout=0.01) for _ in range(4)])
            self.down2 = Down(64, 128, 0.1)
            self.stage23 = nn.Sequential(*[Regular(128, d, a) for d, a in stage23 * 2])
            self.up4 = Up(128, 64, 0.1)
            self.stage4 = nn.Sequential(Regular(64, relu=True), Regular(64, relu=True))
            self.up5 = Up(64, 16, 0.1)
            self.stage5 = Regular(16, relu=True)
            self.fullconv = nn.ConvTranspose2d(16, num_classes, 3, 2, 1, output_padding=1, bias=False)

        def forward(self, x):
            x = self.initial((x - self.mean) / self.std)
            x, i1 = self.down1(x)
            x, i2 = self.down2(self.stage1(x))
            x = self.stage4(self.up4(self.stage23(x), i2))
            return self.fullconv(self.stage5(self.up5(x, i1)))

    return ENet()


class TorchVariant:
    """The PyTorch peer: same batch (NCHW), class-weighted cross-entropy ignoring 255, Adam + L2 2e-4."""

    def __init__(self, label, config, images, labels, class_weights, compile_model=False):
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        self.label = label
        start = time.perf_counter()
        if config["model"] == "enet":
            model = torch_enet(NUM_CLASSES)
        else:
            import segmentation_models_pytorch as smp

            model = smp.DeepLabV3Plus("mobilenet_v2", encoder_weights=None, classes=NUM_CLASSES)
        self.model = torch.compile(model) if compile_model else model
        self.model.train()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        self.loss = torch.nn.CrossEntropyLoss(weight=torch.tensor(class_weights, dtype=torch.float32),
                                              ignore_index=255)
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.step()
        self.first_step_s = time.perf_counter() - start

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(self.images), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss.item()


class SubprocessVariant:
    """A variant stepped in another process over a pipe: the PyTorch peer in another Python (`--peer-python`, e.g.
    a venv whose torchvision matches its torch), or a Keras variant under other environment variables (settings
    TensorFlow reads once, at its import). Its CPU time is read from /proc."""

    def __init__(self, label, worker_args, python=None, env=None):
        import subprocess

        self.label = label
        start = time.perf_counter()
        command = [python or sys.executable, os.path.abspath(__file__), "--worker", *worker_args]
        env = {**os.environ, **(env or {})}  # None: unset (for the baseline: TensorFlow's own default)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        bufsize=1, env={k: v for k, v in env.items() if v is not None})
        self._expect("ready")
        self.first_step_s = time.perf_counter() - start

    def _expect(self, word):
        line = self.process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"the {self.label} worker answered {line!r} instead of {word!r}")

    def step(self):
        self.process.stdin.write("step\n")
        self._expect("ok")

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(kind, config_name, threads):
    """`--worker torch|torch-compile|keras|keras-baseline CONFIG [INTRA INTER]`: builds one variant, then steps it
    on each "step" line. With TF_ENABLE_ONEDNN_OPTS unset, TensorFlow is imported before kerasseg (its own default)."""
    config = CONFIGS[config_name]
    if kind.startswith("keras"):
        if "TF_ENABLE_ONEDNN_OPTS" not in os.environ:
            import tensorflow  # noqa: F401

        from kerasseg.training.performance import configure

        configure(*threads)
        variant = KerasVariant("worker", config, *make_batch(config), baseline=kind == "keras-baseline")
    else:
        variant = TorchVariant("worker", config, *make_batch(config), compile_model=kind == "torch-compile")
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "step":
            variant.step()
            print("ok", flush=True)


def make_batch(config):
    """The benchmark batch: images, labels (a few ignored pixels, as padded crops have), class weights."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (config["batch"], *config["size"], 3)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, (config["batch"], *config["size"])).astype(np.int32)
    labels[:, :4] = 255
    class_weights = list(rng.uniform(1.0, 10.0, NUM_CLASSES))
    return images, labels, class_weights


def run_config(name, rounds, peer, torch_compile, op_counts, peer_python=None, only=None, threads=(None, None)):
    config = CONFIGS[name]
    images, labels, class_weights = make_batch(config)

    variants = [
        lambda: SubprocessVariant(KERAS_VARIANTS[0], ["keras-baseline", name, *map(str, threads)],
                                  env={"TF_ENABLE_ONEDNN_OPTS": None}),
        lambda: KerasVariant("default", config, images, labels, class_weights),
        lambda: KerasVariant("default, no metric", config, images, labels, class_weights, metric=False),
        lambda: KerasVariant("default + XLA", config, images, labels, class_weights, xla=True),
    ]
    if only:
        keep = [make for make, label in zip(variants, KERAS_VARIANTS) if label in only]
        variants = keep
    skipped = []
    if has_amx():
        variants.append(lambda: KerasVariant("mixed_bfloat16", config, images, labels, class_weights,
                                             policy="mixed_bfloat16"))
    else:
        skipped.append("mixed_bfloat16 (no AMX on this CPU)")
    if not only or ONEDNN_OFF in only:
        # TensorFlow reads TF_ENABLE_ONEDNN_OPTS at its import: this variant needs its own process.
        variants.append(lambda: SubprocessVariant(ONEDNN_OFF, ["keras", name, *map(str, threads)],
                                                  env={"TF_ENABLE_ONEDNN_OPTS": "0"}))
    if peer and peer_python:
        variants.append(lambda: SubprocessVariant("PyTorch eager", ["torch", name], peer_python))
        if torch_compile:
            variants.append(lambda: SubprocessVariant("PyTorch torch.compile", ["torch-compile", name], peer_python))
    elif peer:
        variants.append(lambda: TorchVariant("PyTorch eager", config, images, labels, class_weights))
        if torch_compile:
            variants.append(lambda: TorchVariant("PyTorch torch.compile", config, images, labels, class_weights,
                                                 compile_model=True))
    built = [make() for make in variants]
    times = {v.label: [] for v in built}
    cores = {v.label: [0.0, 0.0] for v in built}
    for _ in range(rounds):
        for variant in built:
            for _ in range(config["steps"]):
                cpu_seconds = getattr(variant, "cpu_seconds", _cpu_seconds)
                wall, cpu = time.perf_counter(), cpu_seconds()
                variant.step()
                times[variant.label].append(time.perf_counter() - wall)
                cores[variant.label][0] += cpu_seconds() - cpu
                cores[variant.label][1] += times[variant.label][-1]
    counts = {v.label: v.op_count() for v in built if op_counts and isinstance(v, KerasVariant)}
    return config, built, times, cores, counts, skipped


#: Kernel groups of `--kernels`, by TensorFlow op type (oneDNN's kernels carry an "_MklNative" prefix).
KERNEL_GROUPS = (
    ("convolutions and their gradients", ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedConv2D",
                                          "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                                          "DepthwiseConv2dNativeBackpropFilter", "SpaceToBatchND", "BatchToSpaceND")),
    ("batch norm and its gradient", ("FusedBatchNormV3", "FusedBatchNormGradV3", "FusedBatchNormEx")),
    ("pooling, unpooling", ("MaxPool", "MaxPoolGrad", "MaxPoolGradGrad")),
    ("loss and metric", ("SparseSoftmaxCrossEntropyWithLogits", "ArgMax", "UnsortedSegmentSum", "GatherV2")),
    ("optimizer", ("ResourceApplyAdam", "AssignVariableOp", "AssignSubVariableOp", "ReadVariableOp")),
)
ELEMENTWISE = "element-wise and the rest"
EXECUTOR = {"Process", "Run", "Record", "StartRegion", "StopRegion"}  # spans of the executor, not kernels


def kernel_profile(variant, steps):
    """Runs `steps` training steps under TensorFlow's profiler and returns ({op type: (kernel ms, kernels)} per
    step summed over threads, wall ms per profiled step); the profiler's own overhead is in both."""
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            variant.step()
        wall_ms = (time.perf_counter() - start) * 1e3 / steps
        tf.profiler.experimental.stop()
        (path,) = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    totals = {}
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_type = name.rsplit(":", 1)[-1] if ":" in name else ""
                if not op_type or op_type[0] == " " or op_type.startswith(("_Eager", "__")) or op_type in EXECUTOR:
                    continue  # op events are "op_name:OpType"; the rest are the executor's and the function's spans
                ms, count = totals.get(op_type, (0.0, 0))
                totals[op_type] = (ms + event.duration_ps / 1e9, count + 1)
    return {op: (ms / steps, count / steps) for op, (ms, count) in totals.items()}, wall_ms


def kernel_groups(profile):
    """{group: (kernel ms, kernels)} of a `kernel_profile`, in KERNEL_GROUPS order then ELEMENTWISE."""
    groups = {label: [0.0, 0.0] for label, _ in KERNEL_GROUPS}
    groups[ELEMENTWISE] = [0.0, 0.0]
    for op_type, (ms, count) in profile.items():
        plain = op_type.replace("_MklNative", "").replace("_Mkl", "")
        label = next((label for label, types in KERNEL_GROUPS if plain in types), ELEMENTWISE)
        groups[label][0] += ms
        groups[label][1] += count
    return {label: tuple(v) for label, v in groups.items()}


def format_rows(name, config, built, times, cores, counts):
    first = None
    header = ["config", "variant", "ms/step", "images/s", "cores", "first step s", "x first row"]
    if counts:
        header.append("train-step ops")
    rows = [header]
    for variant in built:
        ms = float(np.median(times[variant.label])) * 1e3
        ips = config["batch"] * 1e3 / ms
        first = first or ips
        row = [f"{name} b{config['batch']}@{config['size'][0]}x{config['size'][1]}", variant.label, f"{ms:.0f}",
               f"{ips:.1f}", f"{cores[variant.label][0] / cores[variant.label][1]:.2f}",
               f"{variant.first_step_s:.1f}", f"{ips / first:.2f}"]
        if counts:
            row.append(str(counts.get(variant.label, "")))
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["enet64", "enet360", "dlv3"])
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--peer", action="store_true", help="also run the PyTorch implementation (bench extra)")
    parser.add_argument("--torch-compile", action="store_true", help="with --peer: also torch.compile")
    parser.add_argument("--op-counts", action="store_true", help="count the ops of each traced Keras step")
    parser.add_argument("--peer-python", default=None,
                        help="with --peer: run PyTorch in this Python (a venv with torch + torchvision + smp)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these Keras variants (labels)")
    parser.add_argument("--intra-op-threads", type=int, default=None)
    parser.add_argument("--inter-op-threads", type=int, default=None)
    parser.add_argument("--kernels", type=int, default=0, metavar="STEPS",
                        help="after the timing, profile STEPS steps of each Keras variant in this process and "
                             "print kernel ms per step by kind (TensorFlow profiler)")
    parser.add_argument("--worker", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, config_name, *threads = args.worker
        return worker(kind, config_name, [None if t == "None" else int(t) for t in threads] or [None, None])
    if args.peer and not args.peer_python:
        try:
            import torch  # noqa: F401
            if "dlv3" in args.configs:
                import segmentation_models_pytorch  # noqa: F401
        except ImportError as e:
            parser.error(f"--peer needs PyTorch and segmentation_models_pytorch (pip install -e \".[bench]\"): {e}")

    from kerasseg.training.performance import configure

    threads = configure(args.intra_op_threads, args.inter_op_threads)
    print(f"TensorFlow threads: intra-op {threads['intra_op_threads']}, inter-op {threads['inter_op_threads']}; "
          f"oneDNN {'on' if threads['onednn'] else 'off'}; "
          f"{os.cpu_count()} CPUs; AMX: {has_amx()}; {args.rounds} interleaved rounds", flush=True)
    table = []
    for name in args.configs:
        config, built, times, cores, counts, skipped = run_config(name, args.rounds, args.peer, args.torch_compile,
                                                                  args.op_counts, args.peer_python, args.variants,
                                                                  (args.intra_op_threads, args.inter_op_threads))
        rows = format_rows(name, config, built, times, cores, counts)
        table += rows if not table else rows[1:]
        for line in skipped:
            print(f"{name}: skipped {line}", flush=True)
        print("\n".join(" | ".join(r) for r in rows), flush=True)
        for variant in built:
            if args.kernels and isinstance(variant, KerasVariant):
                profile, wall_ms = kernel_profile(variant, args.kernels)
                total = sum(ms for ms, _ in profile.values())
                print(f"\n{name}, {variant.label}: kernel ms per step, summed over threads ({args.kernels} profiled "
                      f"steps of {wall_ms:.0f} ms each, the profiler's overhead included)")
                for label, (ms, count) in kernel_groups(profile).items():
                    print(f"  {label:36s} {ms:8.1f} ms {count:7.0f} kernels")
                print(f"  {'total':36s} {total:8.1f} ms = {total / wall_ms:.2f} cores busy with kernels")
                top = sorted(profile.items(), key=lambda item: -item[1][0])[:12]
                print("  largest op types: " + ", ".join(f"{op} {ms:.1f}" for op, (ms, _) in top), flush=True)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    print()
    print("| " + " | ".join(c.ljust(w) for c, w in zip(table[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
