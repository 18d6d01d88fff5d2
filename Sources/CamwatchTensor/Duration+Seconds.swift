extension Duration {
    /// The duration in seconds, for logs, reports and APIs that take `TimeInterval`.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
