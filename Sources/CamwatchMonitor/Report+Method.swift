public import CamwatchSaliency

extension Report.Model {
    /// The CAM method the heatmaps were made with (Score-CAM for reports that do not say).
    public var camMethod: CAMMethod? { CAMMethod(rawValue: methodKey) }

    /// The method's display name for titles (`Grad-CAM`), or the stored name when camwatch does not know it.
    public var methodName: String { camMethod?.displayName ?? (method ?? "") }

    /// The method's command-line name (`scorecam` for reports that do not say): the Prometheus label value.
    public var methodKey: String { method ?? CAMMethod.scoreCAM.rawValue }
}
