from models.batching import padded_cost, plan_batches, take_batch


def test_padded_cost_is_longest_times_count():
    assert padded_cost([3, 10, 5]) == 30
    assert padded_cost([]) == 0


def test_take_batch_stops_at_token_budget():
    # ascending lengths 10,10,20,20: 3 rows cost 3*20=60 > 50, 2 rows 2*10=20
    assert take_batch([10, 10, 20, 20], max_size=8, max_tokens=50) == 2
    assert take_batch([10, 10, 20, 20], max_size=8, max_tokens=80) == 4


def test_take_batch_stops_at_max_size():
    assert take_batch([1] * 10, max_size=4, max_tokens=10_000) == 4


def test_oversized_text_still_runs_alone():
    assert take_batch([500, 600], max_size=8, max_tokens=64) == 1
    assert take_batch([], max_size=8, max_tokens=64) == 0


def test_plan_batches_sorted_and_within_limits():
    lengths = [50, 3, 7, 30, 3, 12, 64, 8, 8, 9]
    batches = plan_batches(lengths, max_size=3, max_tokens=60)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every text exactly once
    assert [lengths[i] for i in flat] == sorted(lengths)  # length bucketing
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or padded_cost([lengths[i] for i in batch]) <= 60
