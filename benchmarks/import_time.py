"What `from fastai_losses.all import *` adds to the import of `fastai.vision.all`: the median of fresh interpreters"
import statistics, subprocess, sys
CODE = ("import time; t0=time.perf_counter(); from fastai.vision.all import *; t1=time.perf_counter()\n"
        "from fastai_losses.all import *; t2=time.perf_counter(); print(t1-t0, t2-t1)")
def main(n:int=7):
    runs = [tuple(map(float, subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True,
                                            check=True).stdout.split())) for _ in range(n)]
    fa,ours = statistics.median(r[0] for r in runs),statistics.median(r[1] for r in runs)
    print(f"fastai.vision.all: {fa:.2f} s; fastai_losses.all after it: +{ours:.2f} s (median of {n} fresh interpreters)")
if __name__=='__main__': main(int(sys.argv[1]) if len(sys.argv)>1 else 7)
