extension Report {
    /// The checkpoint attributes read as the learning rate, first found wins.
    public static let learningRateNames = ["lr", "learning_rate"]

    /// A learning rate at most this share of the one before counts as a drop.
    public static let learningRateDropFactor = 0.5

    /// The entry's learning rate attribute, when it is a positive number.
    public static func learningRate(of entry: CheckpointEntry) -> Double? {
        for name in learningRateNames {
            if let value = entry.attributes[name]?.number, value.isFinite, value > 0 { return value }
        }
        return nil
    }

    /// Whether the run became stable right as its learning rate dropped: the `lr` attribute at the stable
    /// checkpoint is at most half of the highest of the two processed checkpoints before it ("at or just
    /// before"). Saliency drift follows how far the weights move, so heatmaps settle when the steps shrink;
    /// such a verdict says the schedule slowed the model as much as that it converged.
    /// - Returns: the learning rate before and at the stable checkpoint, and that checkpoint; `nil` when the run
    ///   is not stable, has no learning rate attribute there, or it did not drop.
    public var learningRateDropAtStable: (before: Double, after: Double, at: CheckpointEntry)? {
        guard convergence.state == .stable, let id = convergence.convergedAt?.id else { return nil }
        let processed = checkpoints.filter { $0.status == .ok }
        guard let index = processed.firstIndex(where: { $0.id == id }), index > 0,
            let after = Self.learningRate(of: processed[index])
        else { return nil }
        let earlier = processed[max(0, index - 2)..<index].compactMap(Self.learningRate(of:))
        guard let before = earlier.max(), after <= Self.learningRateDropFactor * before else { return nil }
        return (before, after, processed[index])
    }
}
