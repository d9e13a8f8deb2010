from seginterp.evaluate.measure import choose_images


def test_choose_images_is_deterministic_and_evenly_spaced():
    assert choose_images(10, 3) == [0, 4, 9] or choose_images(10, 3) == [0, 5, 9]
    assert choose_images(10, 3) == choose_images(10, 3)
    assert choose_images(2, 5) == [0, 1]
    assert choose_images(0, 3) == [] and choose_images(5, 0) == []
    assert choose_images(7, 1) == [0]
