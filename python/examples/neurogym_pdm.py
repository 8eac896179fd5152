"""NeuroGym PerceptualDecisionMaking-v0 through the Python package with its defaults.

Usage: python neurogym_pdm.py SEED [OUT_DIR]   (needs `pip install neurogym==2.2.0`)

2,000 training trials (NeuroGym seed 1) and 1,000 fresh test trials (seed 2) at dt = 20 ms,
trained with the `cognitive` preset; prints the test accuracy, the accuracy at the highest
coherence and the psychometric curve against the signed coherence with its fit.
"""
import sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
import sasnet, sasnet.neurogym

seed = int(sys.argv[1])
root = sys.argv[2] if len(sys.argv) > 2 else "runs/neurogym-pdm"
train = sasnet.neurogym.task("PerceptualDecisionMaking-v0", trials=2000, seed=1, dt=20)
test = sasnet.neurogym.task("PerceptualDecisionMaking-v0", trials=1000, seed=2, dt=20)
t0 = time.time()
run = sasnet.train(train, test=test, out=f"{root}/seed-{seed}", seed=seed, progress=False)
wall = time.time() - t0
acc = run.evaluate()["accuracy"]
right = sasnet.analyze("psychometric", [run], condition="signed_coh", choice=2)["summary"]["groups"][0]
left = sasnet.analyze("psychometric", [run], condition="signed_coh", choice=1)["summary"]["groups"][0]
hi = max(right["levels"])
i, j = right["levels"].index(hi), left["levels"].index(-hi)
ok = right["chosen"][i] + left["chosen"][j]
n = right["trials"][i] + left["trials"][j]
print(f"seed {seed}: {wall:.0f} s, test accuracy {acc:.4f}, highest coherence ±{hi}: {ok:.0f}/{n:.0f} = {ok/n:.4f}; "
      f"P(right) {[round(f, 2) for f in right['fraction']]} at {right['levels']}; "
      f"fit mu {right['pooled_fit']['mu']:.2f} sigma {right['pooled_fit']['sigma']:.2f} lapse {right['pooled_fit']['lapse']:.3f}; rises {right['rises']}")
