package dev.tributary.analytics.aggregate;

/** An observation that arrived after its window's allowed lateness, tagged with the window size. */
public final class LateObservation {
  public String windowSize;
  public Observation observation;

  public LateObservation() {}

  public LateObservation(String windowSize, Observation observation) {
    this.windowSize = windowSize;
    this.observation = observation;
  }

  @Override
  public String toString() {
    return "Late{" + windowSize + " " + observation + "}";
  }
}
