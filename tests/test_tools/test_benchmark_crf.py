"""tools/benchmark_crf.py: synthetic samples and the printed tables."""
import re

import numpy as np

from tests.tool_loader import load_tool


def test_synthetic_sample_and_all_class_probs():
    tool = load_tool('benchmark_crf')
    image, keys, cams = tool.synthetic_sample((30, 40), 3,
                                              np.random.default_rng(0))
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8
    assert keys.dtype == np.int64 and len(set(keys.tolist())) == 3
    assert cams.shape == (3, 30, 40) and cams.dtype == np.float32
    np.testing.assert_allclose(cams.max(axis=(1, 2)), 1, atol=0.05)
    probs = tool.all_class_probs(keys, cams)
    assert probs.shape == (21, 30, 40)
    np.testing.assert_array_equal(probs[keys + 1], cams)
    np.testing.assert_allclose(probs[0], (1 - cams.max(0))**4, rtol=1e-5)
    absent = np.setdiff1d(np.arange(1, 21), keys + 1)
    np.testing.assert_array_equal(probs[absent], 0)


def test_main_prints_positive_figures(capsys):
    load_tool('benchmark_crf').main(
        ['--size', '24', '32', '--images', '2', '--repeat', '1',
         '--workers', '1', '2'])
    out = capsys.readouterr().out
    number = r'([\d.e+-]+)'
    rows = re.findall(rf'^\| (.+) \| (\d+) \| {number} \| {number}x \|$',
                      out, re.MULTILINE)
    assert [(name, workers) for name, workers, _, _ in rows] == [
        ('ThresholdRelationLabel (irn_label)', '1'),
        ('ThresholdRelationLabel (irn_label)', '2'),
        ('AlphaRelationLabel (psa_prob)', '1'),
        ('AlphaRelationLabel (psa_prob)', '2'),
    ]
    assert all(float(speed) > 0 and float(ratio) > 0
               for _, _, speed, ratio in rows)
    restriction = re.findall(
        rf'^\| (all 21 classes|present only) \| {number} \| {number}x \|$',
        out, re.MULTILINE)
    assert [name for name, _, _ in restriction] == ['all 21 classes',
                                                    'present only']
    assert all(float(seconds) > 0 and float(ratio) > 0
               for _, seconds, ratio in restriction)
