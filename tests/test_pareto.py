from studio.values.pareto import front


def test_front_keeps_only_undominated_points():
    points = [(10, 0.90), (5, 0.80), (20, 0.95), (12, 0.85), (5, 0.70), (30, 0.95)]
    # (12, .85) is beaten by (10, .90); (5, .70) by (5, .80); (30, .95) by (20, .95)
    assert front(points) == [1, 0, 2]


def test_front_for_an_error_metric_prefers_lower_y():
    points = [(10, 0.2), (5, 0.5), (20, 0.1), (12, 0.3)]
    assert front(points, maximize_y=False) == [1, 0, 2]


def test_front_of_nothing_is_empty():
    assert front([]) == []
