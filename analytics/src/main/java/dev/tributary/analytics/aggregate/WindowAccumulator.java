package dev.tributary.analytics.aggregate;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.DDSketches;

/**
 * Running statistics of one window: exact count/sum/min/max and a DDSketch (1% relative accuracy)
 * for p95/p99. The sketch is checkpointed through {@link DDSketchKryoSerializer}.
 */
public final class WindowAccumulator {
  public static final double RELATIVE_ACCURACY = 0.01;

  public long count;
  public double sum;
  public double min = Double.POSITIVE_INFINITY;
  public double max = Double.NEGATIVE_INFINITY;
  public DDSketch sketch = DDSketches.unboundedDense(RELATIVE_ACCURACY);
  /** What the values measure (telemetry unit or currency); {@link #MIXED} when the window saw several. */
  public String unit;

  /** The unit of a window whose values came in more than one unit (amounts in two currencies). */
  public static final String MIXED = "mixed";

  public WindowAccumulator() {}

  public void add(double value, String valueUnit) {
    add(value);
    unit = mergeUnit(unit, valueUnit);
  }

  static String mergeUnit(String a, String b) {
    if (a == null) return b;
    if (b == null || a.equals(b)) return a;
    return MIXED;
  }

  public void add(double value) {
    count++;
    sum += value;
    if (value < min) min = value;
    if (value > max) max = value;
    sketch.accept(value);
  }

  public WindowAccumulator merge(WindowAccumulator other) {
    count += other.count;
    sum += other.sum;
    min = Math.min(min, other.min);
    max = Math.max(max, other.max);
    sketch.mergeWith(other.sketch);
    unit = mergeUnit(unit, other.unit);
    return this;
  }

  /** Quantile clamped to the exact [min, max] (the sketch's bucket midpoint may stray outside). */
  public double quantile(double q) {
    if (count == 0) return Double.NaN;
    return Math.max(min, Math.min(max, sketch.getValueAtQuantile(q)));
  }
}
