/// A token the logit lens ranks high for a region's direction, with its logit.
public struct ReportLensToken: Sendable, Equatable {
    /// The token's text.
    public var text: String
    /// Its logit.
    public var logit: Float

    public init(text: String, logit: Float) {
        self.text = text
        self.logit = logit
    }
}

/// One token of a context window as a region page shows it, with what the model said about it when the window
/// was run again for the report.
public struct ReportToken: Sendable, Equatable {
    /// The token's text.
    public var text: String
    /// Its activation's distance to the exemplar of the region whose page shows it; nil when it was not computed
    /// (no model, or a position the dictionary's extraction leaves out, such as position 0).
    public var distance: Float?
    /// Its nearest region and the distance to that region's exemplar (nil as `distance`).
    public var nearestRegion: Int?
    public var nearestDistance: Float?

    public init(text: String, distance: Float? = nil, nearestRegion: Int? = nil, nearestDistance: Float? = nil) {
        self.text = text
        self.distance = distance
        self.nearestRegion = nearestRegion
        self.nearestDistance = nearestDistance
    }
}

/// A member of a region shown in its context window: a span of the window's tokens around the member token.
public struct ReportContext: Sendable, Equatable {
    /// The member's recorded distance to the region's exemplar.
    public var distance: Float
    /// The window (its id in the build's stream) and the member token's position in it.
    public var window: Int64
    public var position: Int
    /// The document the window came from (`file:line`).
    public var origin: String
    /// The shown tokens, starting at window position `firstPosition`; the member token is
    /// `tokens[position - firstPosition]`.
    public var firstPosition: Int
    public var tokens: [ReportToken]

    public init(distance: Float, window: Int64, position: Int, origin: String, firstPosition: Int, tokens: [ReportToken]) {
        self.distance = distance
        self.window = window
        self.position = position
        self.origin = origin
        self.firstPosition = firstPosition
        self.tokens = tokens
    }

    /// Index of the member token in `tokens`.
    public var memberIndex: Int { position - firstPosition }
}

/// What a model adds to a region's page: the logit lens of its directions, its closest and farthest members in
/// context, and a sample of member distances. Every field may be empty (no model, or a dictionary built from
/// activation files, which has no context windows).
public struct RegionText: Sendable, Equatable {
    /// Logit-lens top tokens of the exemplar direction and of the mean member direction.
    public var exemplarLens: [ReportLensToken]
    public var meanLens: [ReportLensToken]
    /// Closest members (nearest first) and boundary members (farthest first) in context.
    public var closest: [ReportContext]
    public var boundary: [ReportContext]
    /// Distances to this region's exemplar of the tokens of the report's replayed context windows whose nearest
    /// region this is: a sample of members that is not uniform (the windows were stored because they hold some
    /// region's closest or farthest members, so it may lean to the extremes).
    public var sampleDistances: [Float]

    public init(
        exemplarLens: [ReportLensToken] = [], meanLens: [ReportLensToken] = [], closest: [ReportContext] = [], boundary: [ReportContext] = [],
        sampleDistances: [Float] = []
    ) {
        self.exemplarLens = exemplarLens
        self.meanLens = meanLens
        self.closest = closest
        self.boundary = boundary
        self.sampleDistances = sampleDistances
    }
}
